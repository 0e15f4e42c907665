# Sourced by demo.sh and test.sh: makes ./.venv and installs the project into it, only when
# pyproject.toml changed since the last install (so a second run is quick).
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[cedetect] creating .venv" >&2
  if ! "$PY" -m venv .venv 2>/dev/null; then
    # Debian and Ubuntu ship venv's pip bootstrap separately (python3-venv).
    echo "[cedetect] installing python3-venv" >&2
    rm -rf .venv
    sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_=sudo
    $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    "$PY" -m venv .venv
  fi
fi
stamp=".venv/.cedetect-deps-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "[cedetect] installing Python packages into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.cedetect-deps-*
  touch "$stamp"
fi
