#!/usr/bin/env bash
# Builds the runtime images of the hub with Podman from the binaries a build already made
# (deploy/Containerfile; nothing is compiled), and prints each image's size.
#
#   scripts/images.sh [PROGRAM ...]   # default: the six services and hie-member
#   scripts/images.sh --base          # only the base image (scripts/test.sh makes it beside
#                                     # the build, at idle priority)
#
# Images: localhost/<program>:<version> (the project's version in CMakeLists.txt, what
# helm/hie-hub's image.tag defaults to). Environment: HIE_BUILD_DIR (build), HIE_VAR (var),
# HIE_IMAGE_TAG (overrides the version).
#
# Steps: podman, runc and debootstrap from apt when missing (scripts/install-deps.sh); the base
# image localhost/debian:12 from `debootstrap --variant=minbase bookworm` against the first apt
# mirror, cached as $HIE_VAR/images/debian-12.tar (about a minute the first time) and imported
# when podman lacks it; `cmake --install --strip` of the build into a staging context; the
# runtime packages from ldd of the staged binaries (dpkg -S); then one `podman build` per program
# (host network: no NAT rules needed for apt-get inside the build). Podman runs with
# CONTAINERS_CONF=deploy/containers.conf (runc, permitted ulimits); /etc is not touched.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export CONTAINERS_CONF="$HIE_ROOT/deploy/containers.conf"
base_only=0
if [ "${1:-}" = --base ]; then base_only=1; shift; fi
programs=("$@")
[ ${#programs[@]} -gt 0 ] || programs=(hie-gateway hie-identity hie-locator hie-registry
                                       hie-consent hie-audit hie-member)
tag="${HIE_IMAGE_TAG:-$(sed -n 's/^project(hie_hub VERSION \([0-9.]*\).*/\1/p' \
                        "$HIE_ROOT/CMakeLists.txt")}"
[ -n "$tag" ] || die "no project version in CMakeLists.txt (set HIE_IMAGE_TAG)"

# Leaves out of the base what a runtime image never reads (downloaded packages, package lists,
# manuals, translations, documentation but each package's copyright file), and tells dpkg to
# leave them out of the packages installed later (deploy/Containerfile's runtime libraries).
slim_root() {
  local root="$1"
  as_root sh -c "cd '$root' && rm -rf var/cache/apt/archives/*.deb var/lib/apt/lists/* \
    usr/share/man/* usr/share/info/* usr/share/locale/* \
    && find usr/share/doc -type f ! -name copyright -delete \
    && printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
         'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' \
         'path-exclude=/usr/share/locale/*' > etc/dpkg/dpkg.cfg.d/hie-slim"
}

ensure_base() {
  podman image exists localhost/debian:12 && return
  local cache="$HIE_VAR/images/debian-12.tar"
  if [ ! -f "$cache" ]; then
    local mirror root
    mirror="$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources \
              2>/dev/null | head -n 1)"
    mirror="${mirror:-http://deb.debian.org/debian}"
    root="$(mktemp -d "$HIE_VAR/images/debootstrap.XXXXXX")"
    log "images: debootstrap bookworm (minbase) from $mirror"
    as_root debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 \
      || { tail -n 20 "$root.log" >&2; die "debootstrap failed (log: $root.log)"; }
    slim_root "$root"
    as_root tar -C "$root" -cf "$cache.tmp" . && mv "$cache.tmp" "$cache"
    as_root rm -rf "$root" "$root.log"
  fi
  log "images: importing localhost/debian:12 from $cache"
  podman import "$cache" localhost/debian:12 >/dev/null
}

# The Debian packages owning the shared libraries that the staged binaries load.
runtime_packages() {
  local stage="$1"
  for p in "${programs[@]}" hiectl; do ldd "$stage/bin/$p"; done \
    | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u \
    | while read -r lib; do dpkg -S "$(readlink -f "$lib")" 2>/dev/null \
        || dpkg -S "$lib" 2>/dev/null || die "no Debian package owns $lib"; done \
    | cut -d: -f1 | sort -u | grep -vx 'libc6' | tr '\n' ' '
}

"$HIE_ROOT/scripts/install-deps.sh"  # podman, runc, debootstrap when missing
mkdir -p "$HIE_VAR/images"
ensure_base
[ $base_only = 0 ] || exit 0
context="$(mktemp -d "$HIE_VAR/images/context.XXXXXX")"
trap 'rm -rf "$context"' EXIT
cmake --install "$HIE_BUILD_DIR" --prefix "$context/stage" --strip >/dev/null \
  || die "cmake --install $HIE_BUILD_DIR failed (build it first: scripts/build.sh)"
for p in "${programs[@]}"; do
  [ -x "$context/stage/bin/$p" ] || die "$p is not installed by $HIE_BUILD_DIR"
done
packages="$(runtime_packages "$context/stage")"
log "images: runtime packages: $packages"
for p in "${programs[@]}"; do
  log "images: localhost/$p:$tag"
  podman build -q --network=host -f "$HIE_ROOT/deploy/Containerfile" --build-arg PROGRAM="$p" \
    --build-arg RUNTIME_PACKAGES="$packages" -t "localhost/$p:$tag" "$context" >/dev/null
done
podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' \
  | grep -E "^localhost/(debian:12|($(IFS='|'; echo "${programs[*]}")):)" | sort
