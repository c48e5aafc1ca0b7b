#!/usr/bin/env bash
# `make compat`: install the provider as a user would, into stock Apache Airflow, and check it.
#
# For the oldest supported Airflow (3.1.0) and the newest 3.x release on the package index, in a
# fresh virtual environment each: `apache-airflow==X` alone (no constraints file), then the
# provider's wheel with [all] WITHOUT requirements/constraints.txt, and:
#   * the install changed the version of no package Airflow brought (pip freeze before/after);
#   * `pip check` is clean;
#   * `airflow providers list` and `airflow providers hooks` show the provider and its hooks;
#   * the bundled example tenant file, deployed with dags/ as the README says, loads in a DagBag
#     with no import error and the DAG ids the tenant file describes.
# On the newest, with the sandbox wheel added after those checks, `ml-connector demo` runs every
# integration's DAGs with `airflow dags test` against the stand-ins: every run must succeed and no
# task log may carry the DSA deprecations, the secret masker's warning or a warning raised from the
# provider's files (COMPAT_DEMO=0 skips it).
# Then the core alone (no extra) into the newest: the same install checks, the providers commands,
# and the Stripe and SFTP modules fail with the `pip install 'ml-connector-provider[<extra>]'` line.
#
# Environment: PYTHON (interpreter, default python3), AIRFLOW_OLDEST (default 3.1.0),
# AIRFLOW_NEWEST (default: the newest 3.x release on the index), COMPAT_DIR (work directory,
# default a temporary one, removed at the end). Installs use uv (pinned below) and its cache.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

PYTHON=${PYTHON:-python3}
UV_VERSION=0.13.10
AIRFLOW_OLDEST=${AIRFLOW_OLDEST:-3.1.0}
# Airflow 3.1.0 itself does not work with the newest releases of two of its dependencies, which its
# own constraints file (what Airflow's install docs use) holds back: it does not start with
# structlog 25.5 or later (it imports structlog.dev.Styles; 3.1.0 and 3.1.1), and it cannot read a
# connection with cryptography 51 or later (it sets an attribute on MultiFernet, now a Rust class).
# Only those two pins are repeated here, at releases of its time; everything else is what pip picks.
AIRFLOW_OLDEST_PINS=${AIRFLOW_OLDEST_PINS-structlog==25.4.0 cryptography==46.0.7}
AIRFLOW_NEWEST=${AIRFLOW_NEWEST:-}
COMPAT_DEMO=${COMPAT_DEMO:-1}
START=$(date +%s)

if [[ -n "${COMPAT_DIR:-}" ]]; then
  WORK=$COMPAT_DIR
  rm -rf "$WORK"
  mkdir -p "$WORK"
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/ml-connector-compat.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
fi

RESULTS=()
FAILED=0

step() { printf '\n== %s\n' "$*"; }

# record NAME STATUS: one row of the closing table; a failed check fails the run at the end.
record() {
  RESULTS+=("$1|$2")
  if [[ "$2" != PASS ]]; then FAILED=1; fi
}

# check NAME COMMAND...: run COMMAND, record PASS or FAIL.
check() {
  local name=$1
  shift
  if "$@"; then record "$name" PASS; else record "$name" FAIL; fi
}

step "tools: uv $UV_VERSION"
"$PYTHON" -m venv "$WORK/tools"
"$WORK/tools/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
UV="$WORK/tools/bin/uv"
PY_PATH=$("$PYTHON" -c 'import sys; print(sys.executable)')

if [[ -z "$AIRFLOW_NEWEST" ]]; then
  AIRFLOW_NEWEST=$(echo 'apache-airflow>=3,<4' | "$UV" pip compile -q --no-deps --no-header --python "$PY_PATH" - \
    | sed -n 's/^apache-airflow==\([^ ]*\).*/\1/p')
  [[ -n "$AIRFLOW_NEWEST" ]] || { echo "compat: could not find the newest Apache Airflow 3.x" >&2; exit 1; }
fi
echo "oldest supported: apache-airflow==$AIRFLOW_OLDEST; newest 3.x on the index: apache-airflow==$AIRFLOW_NEWEST"

step "build the provider wheel from the tracked and new files of the checkout"
mkdir -p "$WORK/src" "$WORK/dist"
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do [[ -e "$f" ]] && printf '%s\0' "$f"; done \
  | tar --null -T - -cf - | tar -xf - -C "$WORK/src"
"$UV" build -q --wheel --python "$PY_PATH" --out-dir "$WORK/dist" "$WORK/src"
"$UV" build -q --wheel --python "$PY_PATH" --out-dir "$WORK/dist" "$WORK/src/sandbox"
WHEEL=$(ls "$WORK"/dist/ml_connector_provider-*.whl)
SANDBOX_WHEEL=$(ls "$WORK"/dist/ml_connector_sandbox-*.whl)
echo "$WHEEL"

# install_airflow NAME VERSION [PIN...]: a fresh venv with apache-airflow==VERSION (and PINs) alone.
install_airflow() {
  local venv="$WORK/$1" version=$2
  shift 2
  "$UV" venv -q --seed --python "$PY_PATH" "$venv"
  VIRTUAL_ENV="$venv" "$UV" pip install -q "apache-airflow==$version" "$@"
  VIRTUAL_ENV="$venv" "$UV" pip freeze --exclude-editable >"$venv.before"
}

# install_provider NAME REQUIREMENT: the provider into the venv, then compare and `pip check`.
install_provider() {
  local name=$1 venv="$WORK/$1"
  check "$name: provider installs without the lock file" \
    env VIRTUAL_ENV="$venv" "$UV" pip install -q "$2"
  VIRTUAL_ENV="$venv" "$UV" pip freeze --exclude-editable >"$venv.after"
  check "$name: no package of Airflow changed version" \
    "$venv/bin/python" "$REPO/scripts/compat_check.py" freeze-diff "$venv.before" "$venv.after"
  check "$name: pip check" "$venv/bin/python" -m pip check --disable-pip-version-check
}

# airflow_shows NAME PATTERN ARGS...: `airflow ARGS` succeeds and prints PATTERN.
airflow_shows() {
  local name=$1 pattern=$2
  shift 2
  local out
  if out=$(env AIRFLOW_HOME="$WORK/$name-home" AIRFLOW__CORE__LOAD_EXAMPLES=False \
    "$WORK/$name/bin/airflow" "$@" 2>"$WORK/$name-airflow.err"); then
    if grep -q -- "$pattern" <<<"$out"; then
      return 0
    fi
    echo "  \`airflow $*\` does not show $pattern:" >&2
    echo "$out" | tail -20 >&2
  else
    echo "  \`airflow $*\` failed:" >&2
    tail -20 "$WORK/$name-airflow.err" >&2
  fi
  return 1
}

# deploy NAME: the README's "Configure tenants" steps 1-2 with the example from the installed wheel.
deploy() {
  local name=$1 dags="$WORK/$1-home/dags"
  mkdir -p "$dags"
  cp "$REPO/dags/ml_connector.py" "$REPO/dags/ml_connector_tenant_errors.py" "$dags/"
  "$WORK/$name/bin/python" - "$dags/tenants.yaml" <<'EOF'
import shutil, sys
from importlib.resources import files
shutil.copyfile(str(files("ml_connector_provider") / "config" / "tenants.example.yaml"), sys.argv[1])
EOF
}

full() {
  local name=$1 version=$2
  shift 2
  step "apache-airflow==$version $* + ml-connector-provider[all]"
  install_airflow "$name" "$version" "$@"
  install_provider "$name" "$WHEEL[all]"
  check "$name: airflow providers list" airflow_shows "$name" ml-connector-provider providers list
  check "$name: airflow providers hooks" airflow_shows "$name" ml_connector_provider.hooks.stripe.StripeHook providers hooks
  check "$name: airflow providers hooks (oracle_fusion)" airflow_shows "$name" oracle_fusion providers hooks
  check "$name: importing the provider's modules emits no warning" env AIRFLOW_HOME="$WORK/$name-home" \
    "$WORK/$name/bin/python" "$REPO/scripts/compat_check.py" quiet-imports
  deploy "$name"
  check "$name: DagBag of the example" env AIRFLOW_HOME="$WORK/$name-home" AIRFLOW__CORE__LOAD_EXAMPLES=False \
    "$WORK/$name/bin/python" "$REPO/scripts/compat_check.py" dagbag "$WORK/$name-home/dags"
}

# demo NAME: `ml-connector demo` in the environment; every DAG run succeeds, the task logs are quiet.
demo() {
  local name=$1 venv="$WORK/$1" work="$WORK/$1-demo"
  VIRTUAL_ENV="$venv" "$UV" pip install -q "$SANDBOX_WHEEL"
  if ! env AIRFLOW_HOME="$WORK/$name-home" PATH="$venv/bin:$PATH" \
    "$venv/bin/ml-connector" demo --workdir "$work" >"$WORK/$name-demo.log" 2>&1; then
    echo "  ml-connector demo failed:" >&2
    tail -40 "$WORK/$name-demo.log" >&2
    return 1
  fi
  local logs=("$work"/mlc__*.log)
  echo "  ${#logs[@]} DAG run logs"
  # The noise a stock install showed (asyncssh's DSA deprecations, the masker's short-secret
  # warning) and any warning raised from the provider's own files. `airflow dags test` runs the
  # execution API in process, so Airflow's own Starlette deprecation shows there and is not ours.
  local noise='DSA is deprecated|Skipping masking|filename=[^ ]*/ml_connector_provider/|/ml_connector_provider/[^ ]*:[0-9]+ [A-Za-z]*Warning'
  if grep -l -E "$noise" "${logs[@]}" >&2; then
    echo "  ^ task logs with a warning of ours:" >&2
    grep -h -E "$noise" "${logs[@]}" | sort | uniq -c | head -20 >&2
    return 1
  fi
}

core_only() {
  local name=$1 version=$2
  step "apache-airflow==$version + ml-connector-provider (no extra)"
  install_airflow "$name" "$version"
  install_provider "$name" "$WHEEL"
  check "$name: airflow providers list" airflow_shows "$name" ml-connector-provider providers list
  check "$name: airflow providers hooks (oracle_fusion)" airflow_shows "$name" oracle_fusion providers hooks
  local module
  for module in ml_connector_provider.hooks.stripe ml_connector_provider.sensors.stripe ml_connector_provider.triggers.stripe; do
    check "$name: $module names [stripe]" env AIRFLOW_HOME="$WORK/$name-home" \
      "$WORK/$name/bin/python" "$REPO/scripts/compat_check.py" missing-extra stripe "$module"
  done
  for module in ml_connector_provider.hooks.stampli ml_connector_provider.sensors.stampli ml_connector_provider.triggers.stampli; do
    check "$name: $module names [sftp]" env AIRFLOW_HOME="$WORK/$name-home" \
      "$WORK/$name/bin/python" "$REPO/scripts/compat_check.py" missing-extra sftp "$module"
  done
  # The DAGs still load: a task of an integration whose extra is missing fails with the pip line.
  deploy "$name"
  check "$name: DagBag of the example" env AIRFLOW_HOME="$WORK/$name-home" AIRFLOW__CORE__LOAD_EXAMPLES=False \
    "$WORK/$name/bin/python" "$REPO/scripts/compat_check.py" dagbag "$WORK/$name-home/dags"
}

# shellcheck disable=SC2086 # AIRFLOW_OLDEST_PINS is a space-separated list
full "airflow-$AIRFLOW_OLDEST" "$AIRFLOW_OLDEST" $AIRFLOW_OLDEST_PINS
if [[ "$AIRFLOW_NEWEST" != "$AIRFLOW_OLDEST" ]]; then
  full "airflow-$AIRFLOW_NEWEST" "$AIRFLOW_NEWEST"
fi
if [[ "$COMPAT_DEMO" == 1 ]]; then
  step "ml-connector demo on apache-airflow==$AIRFLOW_NEWEST (every integration's DAGs, twice)"
  check "airflow-$AIRFLOW_NEWEST: demo runs succeed, task logs quiet" demo "airflow-$AIRFLOW_NEWEST"
fi
core_only "core-$AIRFLOW_NEWEST" "$AIRFLOW_NEWEST"

step "make compat: $(( $(date +%s) - START ))s (Airflow $AIRFLOW_OLDEST and $AIRFLOW_NEWEST, Python $("$PYTHON" -c 'import platform; print(platform.python_version())'))"
printf '%-6s %s\n' result check
for row in "${RESULTS[@]}"; do
  printf '%-6s %s\n' "${row##*|}" "${row%|*}"
done
passed=$(printf '%s\n' "${RESULTS[@]}" | grep -c '|PASS$' || true)
failed=$(( ${#RESULTS[@]} - passed ))
echo "compat: $passed passed, $failed failed"
exit "$FAILED"
