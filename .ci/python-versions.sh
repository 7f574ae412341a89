#!/usr/bin/env bash
# The unit suite on every Python version obskit claims besides the main one (3.11, which
# `./dev test` runs): one venv per version (.venv-py3.X), the suite without the
# integration, stack and reliability tests, on 2 workers. An interpreter is found as
# `python3.X` on PATH or under pyenv (~/.pyenv/versions/3.X*/bin/python); a missing one
# fails the run under CI=true and is skipped (with a note) otherwise.
#   .ci/python-versions.sh            every other claimed version
#   .ci/python-versions.sh 3.12       just that one
# Keep VERSIONS in step with pyproject's classifiers and noxfile's SUPPORTED_PYTHONS.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1

VERSIONS=("$@")
[ ${#VERSIONS[@]} -gt 0 ] || VERSIONS=(3.10 3.12 3.13)

# The first candidate that runs and reports `version` (pyenv shims on PATH exist for
# versions they will then refuse to run).
find_python() {
  local version=$1 candidate found
  local pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
  for candidate in "$(command -v "python$version" || true)" \
      "$pyenv_root"/versions/"$version"*/bin/python /root/.pyenv/versions/"$version"*/bin/python; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    found=$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)
    if [ "$found" = "$version" ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

status=0
for version in "${VERSIONS[@]}"; do
  if ! python=$(find_python "$version"); then
    if [ "${CI:-}" = "true" ]; then
      echo "python-versions: Python $version is claimed but not installed" >&2
      status=1
    else
      echo "python-versions: Python $version not found; skipped (CI=true fails instead)" >&2
    fi
    continue
  fi
  start=$(date +%s)
  venv=.venv-py$version
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  # Reinstall only when pyproject.toml changed since the last install (as ./dev does).
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ "$(cat "$venv/.obskit-installed" 2>/dev/null || true)" != "$want" ]; then
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e ".[dev]"
    echo "$want" > "$venv/.obskit-installed"
  fi
  echo "== unit suite on Python $version ($python)"
  if "$venv/bin/python" -m pytest -p no:cacheprovider -q -n 2 \
      -m "not integration and not reliability" \
      --ignore=tests/integration --ignore=tests/stack --ignore=tests/reliability; then
    echo "== Python $version passed in $(( $(date +%s) - start )) s"
  else
    echo "== Python $version FAILED after $(( $(date +%s) - start )) s" >&2
    status=1
  fi
done
exit $status
