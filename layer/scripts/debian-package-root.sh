#!/usr/bin/env bash
# Unpacks Debian packages into one directory, nothing installed: of another architecture
# (a root for `qemu-aarch64-static -L ROOT`, or to take a binary from), or from another
# suite (sid, for today's upstream releases):
#   debian-package-root.sh [--suite SUITE] ARCH ROOT PACKAGE...
#   e.g. arm64 target/qemu-arm64-root libc6
#        --suite sid amd64 target/debian-sid/amd64 prometheus-blackbox-exporter
# Packages are fetched with `apt-get download PACKAGE:ARCH` and unpacked with `dpkg-deb -x`.
# Without --suite, the system's apt sources serve; when apt does not know ARCH yet and we
# are root, the architecture is added (`dpkg --add-architecture`) and the lists updated.
# With --suite, apt runs with a private configuration under ROOT/.apt, never touching the
# system's: SUITE's main component from the mirror the system's own sources name (read
# from them, so no host is written here), signed by the system's Debian archive keyring,
# its lists refreshed once a day.
# ROOT/.versions/PACKAGE holds the unpacked version; a package already there is kept.
set -euo pipefail
suite=
if [ "${1:-}" = --suite ]; then suite=${2:?--suite needs a suite}; shift 2; fi
[ $# -ge 3 ] || { echo "usage: $0 [--suite SUITE] ARCH ROOT PACKAGE..." >&2; exit 2; }
arch=$1 root=$2; shift 2
fail() { echo "debian-package-root: $*" >&2; exit 1; }

missing=()
for pkg in "$@"; do
  [ -s "$root/.versions/$pkg" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || fail "needs apt-get and dpkg-deb (Debian)"

apt_options=(-o APT::Sandbox::User=root)
if [ -n "$suite" ]; then
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -r "$keyring" ] || fail "no $keyring: apt-get install debian-archive-keyring"
  # The first URI of a sources entry that is not the security archive, in deb822
  # (.sources) or one-line (.list) form.
  mirror=$(
    {
      cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n'
      cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p'
    } | grep -E '^https?://' | grep -v -- '-security' | head -n 1 || true
  )
  [ -n "$mirror" ] || fail "found no Debian mirror in /etc/apt/sources.list{,.d}"
  mkdir -p "$root/.apt/lists/partial" "$root/.apt/cache/archives/partial" "$root/.apt/state" \
    "$root/.apt/parts" "$root/.apt/preferences"
  apt_dir=$(cd "$root/.apt" && pwd)
  echo "deb [signed-by=$keyring] $mirror $suite main" >"$apt_dir/sources.list"
  : >"$apt_dir/state/status"
  apt_options+=(
    -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/parts"
    -o "Dir::Etc::Preferences=$apt_dir/preferences/none" -o "Dir::Etc::PreferencesParts=$apt_dir/preferences"
    -o "Dir::State=$apt_dir/state" -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::State::status=$apt_dir/state/status"
    -o "Dir::Cache=$apt_dir/cache" -o "APT::Architecture=$arch" -o "APT::Architectures::=$arch"
    -o Debug::NoLocking=1
  )
  stamp=$apt_dir/lists/.updated
  if [ -z "$(find "$stamp" -mmin -1440 2>/dev/null)" ]; then
    apt-get "${apt_options[@]}" update -qq >&2 || fail "apt-get update of $suite ($mirror) failed"
    touch "$stamp"
  fi
else
  known() { apt-cache show --no-all-versions "${missing[0]}:$arch" >/dev/null 2>&1; }
  if ! known; then
    [ "$(id -u)" = 0 ] || fail "apt does not know $arch packages; as root: dpkg --add-architecture $arch && apt-get update"
    if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
      echo "debian-package-root: dpkg --add-architecture $arch" >&2
      dpkg --add-architecture "$arch"
    fi
    apt-get update -qq >&2 || true
    known || fail "apt has no ${missing[0]}:$arch"
  fi
fi

mkdir -p "$root/.debs" "$root/.versions"
debs=$(cd "$root/.debs" && pwd)
for pkg in "${missing[@]}"; do
  rm -f "$debs/${pkg}_"*"_$arch.deb"
  (cd "$debs" && apt-get "${apt_options[@]}" download -qq "$pkg:$arch" >&2) \
    || fail "apt-get download $pkg:$arch${suite:+ from $suite} failed"
  deb=$(ls "$debs/${pkg}_"*"_$arch.deb" | head -n 1)
  dpkg-deb -x "$deb" "$root"
  dpkg-deb -f "$deb" Version >"$root/.versions/$pkg"
  echo "debian-package-root: $pkg:$arch $(cat "$root/.versions/$pkg") unpacked in $root" >&2
done
