#!/usr/bin/env bash
# Runs ImageClassification.ipynb headless, the way CI does (.ci/run calls this script):
#   1. packs the four libraries under src/ into artifacts/packages (the notebook's nuget.config points there),
#   2. drops this version of the MLNetCnn packages from the NuGet cache, so the restore takes the fresh ones,
#   3. installs dotnet-repl if it is missing,
#   4. runs every cell with dotnet-repl and writes the executed notebook (default:
#      artifacts/notebook/ImageClassification.out.ipynb, or the path given as $1),
#   5. fails (exit 1) when dotnet-repl fails or any cell has an error output, and prints the run time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
notebook="$here/ImageClassification.ipynb"
out="$(realpath -m "${1:-$root/artifacts/notebook/ImageClassification.out.ipynb}")"
repl_version=0.3.259
limit_s="${NOTEBOOK_TIMEOUT_S:-1200}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 PATH="$PATH:$HOME/.dotnet/tools"

version="$(dotnet msbuild "$root/src/Estimators/MLNetCnn.Estimators.csproj" -getProperty:PackageVersion)"
if ! grep -q "\"#r \\\\\"nuget: MLNetCnn.Estimators, $version\\\\\"" "$notebook"; then
  echo "notebook: $notebook does not reference MLNetCnn.Estimators $version (the version in Directory.Build.props)" >&2
  exit 1
fi

# The four libraries the notebook references; not the mlnetcnn tool, whose package carries every
# platform's native libraries (about 700 MB) and which the notebook does not use.
echo "notebook: packing MLNetCnn $version into artifacts/packages"
for project in Architectures/MLNetCnn.Architectures Tricks/MLNetCnn.Tricks Serving/MLNetCnn.Serving Estimators/MLNetCnn.Estimators; do
  dotnet pack "$root/src/$project.csproj" -c Release -o "$root/artifacts/packages" -v quiet -clp:ErrorsOnly
done

cache="$(dotnet nuget locals global-packages --list | sed -n 's/^global-packages: *//p')"
if [ -n "$cache" ]; then
  rm -rf "${cache%/}"/mlnetcnn.*/"$version"
fi

if ! dotnet tool list -g | grep -Eq "^dotnet-repl +$repl_version "; then
  if dotnet tool list -g | grep -q '^dotnet-repl '; then
    dotnet tool update -g dotnet-repl --version "$repl_version" --allow-downgrade
  else
    dotnet tool install -g dotnet-repl --version "$repl_version"
  fi
fi

mkdir -p "$(dirname "$out")"
rm -f "$out"
log="$(mktemp)"
echo "notebook: running $(basename "$notebook") with dotnet-repl $repl_version"
start=$(date +%s)
set +e
(cd "$here" && timeout "$limit_s" dotnet repl --run "$notebook" --exit-after-run --output-path "$out" </dev/null >"$log" 2>&1)
status=$?
set -e
elapsed=$(( $(date +%s) - start ))

errors=0
if [ -f "$out" ]; then
  errors=$(grep -Ec '"output_type": *"error"' "$out" || true)
  # The cells' printed text, for whoever reads the CI log.
  if command -v python3 >/dev/null; then
    python3 - "$out" <<'PY' || true
import json, sys
for cell in json.load(open(sys.argv[1], encoding="utf-8"))["cells"]:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            print("".join(output.get("text", [])), end="")
        elif output.get("output_type") == "error":
            print("ERROR in cell:", "".join(cell["source"])[:200], "\n", output.get("evalue", ""))
PY
  fi
fi

if [ "$status" -ne 0 ] || [ "$errors" -ne 0 ] || [ ! -f "$out" ]; then
  echo "notebook: FAILED after ${elapsed} s (dotnet-repl exit $status, $errors cell error(s)); dotnet-repl printed:" >&2
  sed 's/\x1b\[[0-9;]*m//g' "$log" | tail -n 60 >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
echo "notebook: all cells ran in ${elapsed} s (executed notebook: $out)"
