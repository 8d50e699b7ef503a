# SPDX-License-Identifier: MIT
# Sourced by the OBS checks: sets HOME_DIR (the project's cache, with its env sourced) and PY
# (the project's Python); obs_private_config HOME PORT writes a private OBS configuration under
# HOME (no first-run wizard, no update check, the websocket server on PORT without a password),
# for an OBS started with HOME=HOME.
HOME_DIR=${ADAINSTYLE_HOME:-$HOME/.cache/adainstyle}
source "$HOME_DIR/env"
PY=$ADAINSTYLE_PYTHON

obs_private_config() {
  mkdir -p "$1/.config/obs-studio"
  cat > "$1/.config/obs-studio/global.ini" <<INI
[General]
FirstRun=true
EnableAutoUpdates=false
[OBSWebSocket]
FirstLoad=false
ServerEnabled=true
ServerPort=$2
AlertsEnabled=false
AuthRequired=false
ServerPassword=
INI
}
