#!/usr/bin/env bash
# Builds the local images Karu's tests and examples run, because no image registry is
# reachable from these machines (`docker pull` fails):
#   karu/busybox:1  a rootfs of Debian's static busybox with its applets linked in /bin
#   karu/hello:1    FROM karu/busybox:1, serves /www/index.html on :8080 (busybox httpd)
#
# Idempotent: an image that already exists is left alone unless --force is given.
# The Docker CLI comes from $DOCKER (default /usr/bin/docker) and may carry flags,
# e.g. DOCKER='/usr/bin/docker -H unix:///tmp/h1/docker.sock' scripts/images.sh;
# DOCKER_HOST is honoured by the CLI as usual.
set -euo pipefail

DOCKER=${DOCKER:-/usr/bin/docker}
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "images.sh: unknown argument '$arg' (use --force or --help)" >&2; exit 2 ;;
  esac
done

# $DOCKER may hold flags (-H …), so it is split into words on purpose.
docker_() { $DOCKER "$@"; }

have_image() { docker_ image inspect "$1" >/dev/null 2>&1; }

want() {
  if [[ $FORCE == 0 ]] && have_image "$1"; then
    echo "images.sh: $1 already exists (use --force to rebuild)"
    return 1
  fi
  return 0
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if want karu/busybox:1; then
  if [[ ! -x /bin/busybox ]]; then
    echo "images.sh: /bin/busybox missing, installing busybox-static"
    apt-get install -y busybox-static || { apt-get update && apt-get install -y busybox-static; }
  fi
  root=$tmp/rootfs
  mkdir -p "$root/bin" "$root/usr/bin" "$root/etc" "$root/tmp" "$root/www" "$root/root"
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  # Every applet this busybox has (sh, sleep, httpd, nc, cat, echo, env, ls, mkdir, kill,
  # true, false, …), so test commands never trip over a missing one.
  for applet in $(/bin/busybox --list); do
    [[ $applet == busybox || -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
  done
  ln -s ../../bin/env "$root/usr/bin/env" # for `#!/usr/bin/env` scripts
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  tar -C "$root" --numeric-owner -c . |
    docker_ import --change 'CMD ["sh"]' --change 'ENV PATH=/bin:/usr/bin' - karu/busybox:1 >/dev/null
  echo "images.sh: built karu/busybox:1"
fi

if want karu/hello:1; then
  ctx=$tmp/hello
  mkdir -p "$ctx"
  echo 'hello from karu' >"$ctx/index.html"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM karu/busybox:1
COPY index.html /www/index.html
EXPOSE 8080
# busybox httpd as PID 1 ignores SIGTERM; Karu's driver runs tasks with an init (HostConfig.Init).
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
EOF
  # The classic builder resolves FROM against local images only; BuildKit may try a registry.
  DOCKER_BUILDKIT=0 docker_ build -q -t karu/hello:1 "$ctx" >/dev/null
  echo "images.sh: built karu/hello:1"
fi
