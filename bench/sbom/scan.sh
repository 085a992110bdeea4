#!/usr/bin/env bash
# Benchmark: `seawall scan` against `cargo audit` on the same Cargo.lock and the same RustSec
# data, and `seawall scan` of a synthetic 10,000-component SBOM against every imported
# advisory. Prints wall time and peak memory side by side with ratios, and writes the table to
# bench/results/scan-<UTC time>.txt (and .tsv).
#
# Not a test. Inputs:
#   - advisories: $ADVISORIES, default ../shared/data/advisories beside the repository (RustSec,
#     Go, PyPA and GitHub OSV records; see SOURCES.txt there); when absent, the repository's
#     fixtures (crates/supply/tests/fixtures/advisories, a subset of the same data);
#   - the Cargo.lock: $CARGO_LOCK, default ripgrep's from ../shared/data/lockfiles, else this
#     repository's own Cargo.lock.
#
# cargo audit reads the RustSec database in its own format (Markdown files with TOML front
# matter in a git repository), not OSV. The shared data holds the OSV export only, so this
# script converts each RustSec OSV record to that format (id, package, date, aliases, and the
# `patched`/`unaffected` requirements derived from the OSV ranges) into a local git
# repository and runs `cargo audit --db DIR --no-fetch`. Nothing is fetched from any host.
#
# Environment: SEAWALL_BIN (a binary that takes `scan` and `advisories import`), RUNS
# (default 5; the median is reported), CARGO_AUDIT (default `cargo audit`).
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
runs="${RUNS:-5}"
results="$repo/bench/results"
mkdir -p "$results"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

pick_bin() {
    if [[ -n "${SEAWALL_BIN:-}" ]]; then echo "$SEAWALL_BIN"; return; fi
    local main="$repo/target/release/seawall"
    if [[ -x "$main" ]] && "$main" scan --help >/dev/null 2>&1; then echo "$main"; return; fi
    local example="$repo/target/release/examples/scan"
    (cd "$repo" && cargo build -q -p seawall-supply --release --example scan)
    echo "$example"
}
seawall="$(pick_bin)"

adv="${ADVISORIES:-$repo/../shared/data/advisories}"
if [[ -d "$adv" ]]; then
    adv="$(cd "$adv" && pwd)"
    rustsec="$adv/rustsec-osv/crates"
    all=("$adv/rustsec-osv/crates" "$adv/go-vulndb/data/osv" "$adv/pypa/vulns" "$adv/ghsa-npm-sample")
else
    adv="$repo/crates/supply/tests/fixtures/advisories"
    rustsec="$adv/rustsec-osv/crates"
    all=("$adv")
fi
lock="${CARGO_LOCK:-$repo/../shared/data/lockfiles/ripgrep.Cargo.lock}"
[[ -f "$lock" ]] || lock="$repo/Cargo.lock"

# measure NAME CMD... -> "seconds peak_kib cpu_seconds exit" (the run with the median wall
# time of $runs runs), from GNU time. CPU time (user + system) is shown beside wall time
# because the machine may be shared: wall time includes waiting for a core.
measure() {
    local name="$1"; shift
    local times=() i
    for ((i = 0; i < runs; i++)); do
        local status=0
        /usr/bin/time -f '%e %M %U %S' -o "$work/$name.$i.time" "$@" >"$work/$name.$i.out" 2>"$work/$name.$i.err" || status=$?
        times+=("$(tail -1 "$work/$name.$i.time" | awk '{ printf "%s %s %.2f", $1, $2, $3 + $4 }') $status")
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.1fx", b / a; else print "n/a" }'; }

# The seawall advisory index: RustSec only for the comparison, everything for the 10k scan.
"$seawall" advisories import "$rustsec" --db "$work/rustsec.db" >/dev/null
"$seawall" advisories import "${all[@]}" --db "$work/all.db" >"$work/import-all.txt" 2>"$work/import-all.err" || true
/usr/bin/time -f '%e s, %M KiB' -o "$work/import.time" "$seawall" advisories import "${all[@]}" --db "$work/timed.db" >/dev/null 2>&1 || true
import_time="$(tail -1 "$work/import.time")"

# A CycloneDX SBOM of the Cargo.lock's registry packages, so that both tools see the same
# (name, version) pairs; seawall also reads the Cargo.lock directly (second row).
python3 - "$lock" "$work/cargo-sbom.json" <<'PY'
import json, sys, tomllib
lock = tomllib.load(open(sys.argv[1], "rb"))
comps = [{"type": "library", "name": p["name"], "version": p["version"],
          "purl": f"pkg:cargo/{p['name']}@{p['version']}"}
         for p in lock.get("package", []) if p.get("source", "").startswith("registry+")]
json.dump({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": comps}, open(sys.argv[2], "w"))
PY
mkdir -p "$work/lockdir" && cp "$lock" "$work/lockdir/Cargo.lock"

# A second Cargo.lock, synthetic: every crate the RustSec records name, at each version their
# ranges mention (introduced, fixed, last_affected), so that both tools have much to find and
# their findings can be compared advisory by advisory.
mkdir -p "$work/vulnlock"
python3 - "$rustsec" "$work/vulnlock/Cargo.lock" <<'PY'
import json, os, sys
pairs = set()
for f in sorted(os.listdir(sys.argv[1])):
    if not f.endswith(".json"): continue
    rec = json.load(open(os.path.join(sys.argv[1], f)))
    for a in rec.get("affected", []):
        if (a.get("package") or {}).get("ecosystem") != "crates.io": continue
        for r in a.get("ranges", []):
            for e in r.get("events", []):
                for v in e.values():
                    if v not in ("0", "0.0.0-0") and v.count(".") == 2:
                        pairs.add((a["package"]["name"], v))
with open(sys.argv[2], "w") as out:
    out.write("version = 3\n")
    for name, v in sorted(pairs):
        out.write(f'\n[[package]]\nname = "{name}"\nversion = "{v}"\n'
                  'source = "registry+https://github.com/rust-lang/crates.io-index"\n')
print(len(pairs), "packages in the synthetic Cargo.lock", file=sys.stderr)
PY

# The synthetic SBOM: 10,000 components named by the imported advisories, at versions taken
# from their ranges (introduced, fixed, last_affected), so that many match and many do not.
python3 - "$work/sbom-10k.json" "${all[@]}" <<'PY'
import json, os, sys, itertools
purl_type = {"crates.io": "cargo", "npm": "npm", "PyPI": "pypi", "Go": "golang"}
pairs = []
for root in sys.argv[2:]:
    for d, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            path = os.path.join(d, f)
            if f.endswith(".json"):
                try: rec = json.load(open(path))
                except Exception: continue
            elif f.endswith(".yaml"):
                import yaml
                try: rec = yaml.safe_load(open(path))
                except Exception: continue
            else:
                continue
            for a in (rec or {}).get("affected", []) or []:
                pkg = a.get("package") or {}
                t = purl_type.get(pkg.get("ecosystem"))
                if not t: continue
                vs = [v for r in a.get("ranges", []) if r.get("type") != "GIT"
                      for e in r.get("events", []) for v in e.values() if v not in ("0", "0.0.0-0")]
                vs += a.get("versions", [])[:3]
                for v in vs[:4] or ["1.0.0"]:
                    if t == "golang" and not v.startswith("v"): v = "v" + v
                    pairs.append((t, pkg["name"], v))
pairs = sorted(set(pairs))
comps = []
for t, name, v in itertools.islice(itertools.cycle(pairs), 10000):
    comps.append({"type": "library", "name": name, "version": v,
                  "purl": f"pkg:{t}/{name}@{v}".replace("pkg:npm/@", "pkg:npm/%40")})
json.dump({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": comps}, open(sys.argv[1], "w"))
print(len(pairs), "distinct (package, version) pairs", file=sys.stderr)
PY

# cargo audit's database: the RustSec OSV records converted to its format, in a git repo.
python3 - "$rustsec" "$work/advisory-db" <<'PY'
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
def q(s): return json.dumps(s)
n = 0
for f in sorted(os.listdir(src)):
    if not f.endswith(".json"): continue
    rec = json.load(open(os.path.join(src, f)))
    if rec.get("withdrawn"): continue
    aff = [a for a in rec.get("affected", []) if (a.get("package") or {}).get("ecosystem") == "crates.io"]
    if not aff: continue
    a = aff[0]
    name = a["package"]["name"]
    # Sorted (introduced, fixed) pairs -> patched ">= fixed[, < next introduced]".
    spans = []
    for r in a.get("ranges", []):
        intro = None
        for e in r.get("events", []):
            if "introduced" in e: intro = e["introduced"]
            if "fixed" in e: spans.append((intro, e["fixed"])); intro = None
            if "last_affected" in e: spans.append((intro, None)); intro = None
        if intro is not None: spans.append((intro, None))
    patched, unaffected = [], []
    for i, (intro, fixed) in enumerate(spans):
        if i == 0 and intro not in (None, "0", "0.0.0-0"):
            unaffected.append(f"< {intro}")
        if fixed:
            nxt = spans[i + 1][0] if i + 1 < len(spans) else None
            patched.append(f">= {fixed}" + (f", < {nxt}" if nxt else ""))
    date = (rec.get("published") or rec.get("modified") or "2020-01-01")[:10]
    info = (a.get("database_specific") or {}).get("informational")
    lines = ["```toml", "[advisory]", f"id = {q(rec['id'])}", f"package = {q(name)}",
             f"date = {q(date)}", f"aliases = {json.dumps([x for x in rec.get('aliases', [])])}"]
    if info: lines.append(f"informational = {q(info)}")
    lines += ["", "[versions]", f"patched = {json.dumps(patched)}", f"unaffected = {json.dumps(unaffected)}",
              "```", "", "# " + (rec.get("summary") or rec["id"]).replace("\n", " "), "", rec.get("details") or "-"]
    d = os.path.join(dst, "crates", name)
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, rec["id"] + ".md"), "w").write("\n".join(lines) + "\n")
    n += 1
print(n, "advisories converted for cargo audit", file=sys.stderr)
PY
(cd "$work/advisory-db" && git init -q && git add -A && git -c user.name=bench -c user.email=bench@localhost commit -qm "RustSec OSV export, converted" )

{
printf 'case\tseawall_s\tseawall_cpu_s\tseawall_peak_kib\tother\tother_s\tother_cpu_s\tother_peak_kib\tspeedup\tnote\n'

read -r s_t s_m s_c s_st < <(measure sw-sbom "$seawall" scan "$work/cargo-sbom.json" --db "$work/rustsec.db" --format json)
read -r l_t l_m l_c l_st < <(measure sw-lock "$seawall" scan "$work/lockdir/Cargo.lock" --db "$work/rustsec.db" --format json)
read -r v_t v_m v_c v_st < <(measure sw-vuln "$seawall" scan "$work/vulnlock/Cargo.lock" --db "$work/rustsec.db" --format json)
audit_cmd=(${CARGO_AUDIT:-cargo audit})
# --no-yanked: the yank check asks the crates.io index, which is not part of the comparison.
audit_flags=(--db "$work/advisory-db" --no-fetch --stale --no-yanked --json)
if "${audit_cmd[@]}" --version >/dev/null 2>&1; then
    read -r a_t a_m a_c a_st < <(measure audit "${audit_cmd[@]}" "${audit_flags[@]}" --file "$work/lockdir/Cargo.lock" || true)
    read -r b_t b_m b_c b_st < <(measure audit-vuln "${audit_cmd[@]}" "${audit_flags[@]}" --file "$work/vulnlock/Cargo.lock" || true)
    note="cargo audit exit $a_st"
    printf 'cargo-lock-as-sbom\t%s\t%s\t%s\tcargo-audit\t%s\t%s\t%s\t%s\t%s\n' "$s_t" "$s_c" "$s_m" "$a_t" "$a_c" "$a_m" "$(ratio "$s_t" "$a_t")" "$note"
    printf 'cargo-lock\t%s\t%s\t%s\tcargo-audit\t%s\t%s\t%s\t%s\t%s\n' "$l_t" "$l_c" "$l_m" "$a_t" "$a_c" "$a_m" "$(ratio "$l_t" "$a_t")" "$note"
    printf 'synthetic-vulnerable-cargo-lock\t%s\t%s\t%s\tcargo-audit\t%s\t%s\t%s\t%s\tcargo audit exit %s\n' "$v_t" "$v_c" "$v_m" "$b_t" "$b_c" "$b_m" "$(ratio "$v_t" "$b_t")" "$b_st"
else
    printf 'cargo-lock-as-sbom\t%s\t%s\t%s\tcargo-audit\tn/a\tn/a\tn/a\tn/a\tcargo audit not installed\n' "$s_t" "$s_c" "$s_m"
    printf 'cargo-lock\t%s\t%s\t%s\tcargo-audit\tn/a\tn/a\tn/a\tn/a\tcargo audit not installed\n' "$l_t" "$l_c" "$l_m"
    printf 'synthetic-vulnerable-cargo-lock\t%s\t%s\t%s\tcargo-audit\tn/a\tn/a\tn/a\tn/a\tcargo audit not installed\n' "$v_t" "$v_c" "$v_m"
fi

read -r k_t k_m k_c k_st < <(measure sw-10k "$seawall" scan "$work/sbom-10k.json" --db "$work/all.db" --format json)
printf 'sbom-10k-all-advisories\t%s\t%s\t%s\t-\t-\t-\t-\t-\ttarget < 1 s and < 200 MiB (204800 KiB)\n' "$k_t" "$k_c" "$k_m"
} > "$work/table.tsv"

# Findings, for a sanity check that both tools looked at the same thing.
sw_found="$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len({f["id"] for f in d["findings"]}))' "$work/sw-sbom.0.out" 2>/dev/null || echo '?')"
k_found="$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["findings"]), "findings in", d["components"], "components")' "$work/sw-10k.0.out" 2>/dev/null || echo '?')"
au_found="$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len({v["advisory"]["id"] for v in d["vulnerabilities"]["list"]} | {w["advisory"]["id"] for ws in d.get("warnings", {}).values() for w in ws if w.get("advisory")}))' "$work/audit.0.out" 2>/dev/null || echo '?')"
stored="$(grep -o '[0-9]* advisories stored' "$work/import-all.txt" || echo '?')"
# The synthetic lockfile: (advisory, crate, version) triples each tool reports, and where they
# differ.
compare="$(python3 - "$work/sw-vuln.0.out" "$work/audit-vuln.0.out" <<'PY' 2>&1 || true
import json, sys
sw = json.load(open(sys.argv[1]))
ours = set()
for f in sw["findings"]:
    for a in f["advisories"]:
        ours.add((a, f["name"], f["version"]))
try:
    au = json.load(open(sys.argv[2]))
except Exception as e:
    print(f"cargo audit output unreadable: {e}"); sys.exit()
theirs = {(v["advisory"]["id"], v["package"]["name"], v["package"]["version"]) for v in au["vulnerabilities"]["list"]}
for ws in au.get("warnings", {}).values():
    for w in ws:
        if w.get("advisory"):
            theirs.add((w["advisory"]["id"], w["package"]["name"], w["package"]["version"]))
print(f"seawall {len(ours)}, cargo audit {len(theirs)}, both {len(ours & theirs)}; "
      f"only seawall {len(ours - theirs)}, only cargo audit {len(theirs - ours)}")
for t in sorted(ours - theirs)[:5]: print("  only seawall:", *t)
for t in sorted(theirs - ours)[:5]: print("  only cargo audit:", *t)
PY
)"

{
echo "seawall scan benchmark, $stamp (median of $runs runs; wall and CPU seconds, peak RSS KiB)"
echo "machine: $(nproc) cores, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "binary: $seawall"
echo "advisories: ${all[*]} ($stored; importing all took ${import_time})"
echo "Cargo.lock: $lock"
echo
column -t -s $'\t' "$work/table.tsv"
echo
echo "distinct advisories found in the Cargo.lock: seawall $sw_found, cargo audit $au_found"
echo "10k scan: $k_found"
echo "synthetic vulnerable Cargo.lock, (advisory, crate, version) found: $compare"
} | tee "$results/scan-$stamp.txt"
cp "$work/table.tsv" "$results/scan-$stamp.tsv"
