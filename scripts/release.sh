#!/usr/bin/env bash
# `make release`: the wheel, the sdist and the container image of one version, with checksums.
#
#   scripts/release.sh [OUTDIR]        (default dist/)
#
# The version comes from the git tags through setuptools-scm (tag v1.2.3 on HEAD -> 1.2.3; no tag
# yet -> 0.1.devN+g<commit>); it is computed once and every artefact is checked to carry it:
#   OUTDIR/leo_exporter-VERSION-py3-none-any.whl
#   OUTDIR/leo_exporter-VERSION.tar.gz
#   OUTDIR/leo-exporter-VERSION.image.tar   (`docker load -i` / `podman load -i`; tag leo-exporter:VERSION,
#                                           with `+` written `-`, which image tags do not allow)
#   OUTDIR/SHA256SUMS                       (`sha256sum -c SHA256SUMS`)
# The image is built with Docker when its engine runs, otherwise with podman on a local Debian
# base (scripts/container-image.sh; needs root). PYTHON (default .venv/bin/python) needs `build`
# and `setuptools-scm` (the test extra).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
out=$(realpath -m "${1:-dist}")

version=$("$PYTHON" -m setuptools_scm)
revision=$(git rev-parse HEAD)
tag="leo-exporter:${version//+/-}"
echo "release: version $version, revision $revision" >&2

rm -rf "$out"
mkdir -p "$out"
"$PYTHON" -m build --outdir "$out" . >"$out/build.log" 2>&1 || { tail -n 30 "$out/build.log" >&2; exit 1; }
rm "$out/build.log"
wheel="$out/leo_exporter-$version-py3-none-any.whl"
sdist="$out/leo_exporter-$version.tar.gz"
for artefact in "$wheel" "$sdist"; do
  [ -f "$artefact" ] || { echo "release: expected $artefact, built: $(ls "$out")" >&2; exit 1; }
done

image_tar="$out/leo-exporter-${version//+/-}.image.tar"
build_args=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision")
source_url=$(git remote get-url origin 2>/dev/null || true)
[ -n "$source_url" ] && build_args+=(--build-arg "SOURCE_URL=$source_url")
if docker info >/dev/null 2>&1; then  # a Docker engine that answers, not just its client
  engine=docker
  docker build --quiet --tag "$tag" "${build_args[@]}" . >/dev/null
else
  engine=podman
  # shellcheck source=scripts/container-image.sh
  source scripts/container-image.sh
  ensure_tools
  podman_config
  build_image "localhost/$tag" "${build_args[@]}"
  tag="localhost/$tag"
fi
# the image reports the same version (the build stage has no .git: VERSION is passed in)
reported=$("$engine" run --rm --network none "$tag" --version)  # whole: `| head` would break the pipe
reported=${reported%%$'\n'*}
case "$reported" in
  "leo-exporter, version $version "*) ;;
  *) echo "release: the image reports '$reported', not version $version" >&2; exit 1 ;;
esac
"$engine" save --quiet --output "$image_tar" "$tag" >/dev/null

(cd "$out" && sha256sum -- *.whl *.tar.gz *.image.tar >SHA256SUMS)
echo "release: $version ($engine image $tag) in $out:" >&2
cat "$out/SHA256SUMS"
