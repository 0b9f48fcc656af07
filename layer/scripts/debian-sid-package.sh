#!/usr/bin/env bash
# Unpacks packages from Debian's sid suite (today's upstream releases) into a directory,
# without touching the system's apt sources or installing anything:
#   debian-sid-package.sh ARCH ROOT PACKAGE...   e.g. amd64 target/debian-sid/amd64 prometheus-blackbox-exporter
# apt runs with a private configuration under ROOT/.apt: a sources list naming the same
# mirror the system's own sources use (read from them, so no host is written here), sid's
# main component, signed by the system's Debian archive keyring. Lists are refreshed once a
# day. ROOT/.versions/PACKAGE holds the unpacked version; a package already there is kept.
# Prints nothing on success when everything is already unpacked.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 ARCH ROOT PACKAGE..." >&2; exit 2; }
arch=$1 root=$2; shift 2
fail() { echo "debian-sid-package: $*" >&2; exit 1; }

missing=()
for pkg in "$@"; do
  [ -s "$root/.versions/$pkg" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || fail "needs apt-get and dpkg-deb (Debian)"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || fail "no $keyring: apt-get install debian-archive-keyring"

# The system's Debian mirror: the first URI of a sources entry that is not the security
# archive, in deb822 (.sources) or one-line (.list) form.
mirror=$(
  {
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n'
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p'
  } | grep -E '^https?://' | grep -v -- '-security' | head -n 1 || true
)
[ -n "$mirror" ] || fail "found no Debian mirror in /etc/apt/sources.list{,.d}"

mkdir -p "$root/.apt/lists/partial" "$root/.apt/cache/archives/partial" "$root/.apt/state" \
  "$root/.apt/parts" "$root/.apt/preferences" "$root/.debs" "$root/.versions"
apt_dir=$(cd "$root/.apt" && pwd)
echo "deb [signed-by=$keyring] $mirror sid main" >"$apt_dir/sources.list"
: >"$apt_dir/state/status"
apt_private=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/parts"
  -o "Dir::Etc::Preferences=$apt_dir/preferences/none" -o "Dir::Etc::PreferencesParts=$apt_dir/preferences"
  -o "Dir::State=$apt_dir/state" -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::State::status=$apt_dir/state/status"
  -o "Dir::Cache=$apt_dir/cache" -o "APT::Architecture=$arch" -o "APT::Architectures::=$arch"
  -o APT::Sandbox::User=root -o Debug::NoLocking=1
)
stamp=$apt_dir/lists/.updated
if [ -z "$(find "$stamp" -mmin -1440 2>/dev/null)" ]; then
  apt-get "${apt_private[@]}" update -qq >&2 || fail "apt-get update of sid ($mirror) failed"
  touch "$stamp"
fi

debs=$(cd "$root/.debs" && pwd)
for pkg in "${missing[@]}"; do
  rm -f "$debs/${pkg}_"*"_$arch.deb"
  (cd "$debs" && apt-get "${apt_private[@]}" download -qq "$pkg:$arch" >&2) \
    || fail "apt-get download $pkg:$arch from sid failed"
  deb=$(ls "$debs/${pkg}_"*"_$arch.deb" | head -n 1)
  dpkg-deb -x "$deb" "$root"
  dpkg-deb -f "$deb" Version >"$root/.versions/$pkg"
  echo "debian-sid-package: $pkg:$arch $(cat "$root/.versions/$pkg") unpacked in $root" >&2
done
