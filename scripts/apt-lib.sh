# Sourced by the setup scripts: installs Debian packages as root, or through sudo.
#   as_root CMD...        runs CMD as root (or says what to run, and fails)
#   apt_install PKG...    apt-get update, then install PKG... quietly
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        echo "setup: run as root (or install sudo) to run: $*" >&2
        return 1
    fi
}

apt_install() {
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}
