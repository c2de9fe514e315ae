# velero-fsb-guard plugin image for `velero plugin add <image>`.
#
# Velero runs the image as an init container with its plugins volume mounted at /target; the
# entrypoint copies the plugin binary there (atomically, mode 0755) and exits. The final stage is
# `scratch`: one static binary, no shell, no package manager.
#
# Two ways to build, same image:
#
# 1. With a registry (multi-arch; the `build` stage compiles in a `rust:` image):
#      docker buildx build --platform linux/amd64,linux/arm64 \
#        --build-arg VERSION=0.1.0 -t ghcr.io/fsb-guard/velero-fsb-guard:0.1.0 --push .
#    The builder compiles for the musl target of the requested platform with
#    scripts/build-static.sh, the same script CI runs, which also checks the binary is static.
#
# 2. Offline, from the binary scripts/build-static.sh made on the host (nothing is pulled):
#      scripts/build-static.sh x86_64-unknown-linux-musl
#      docker build --target prebuilt --build-arg VERSION=0.1.0 -t velero-fsb-guard:0.1.0 .
#    (STATIC_TARGET=aarch64-unknown-linux-musl for arm64; scripts/build-image.sh builds both and
#    joins them in one OCI image index). The `prebuilt` stage comes before the
#    `rust:` stage on purpose: the classic builder builds stages in file order up to --target and
#    BuildKit only the stages the target needs, so neither reaches the `rust:` image. No
#    `# syntax=` line either: it would make BuildKit pull its frontend image.

ARG RUST_VERSION=1.95

# What every variant of the image shares; the stages below add the binary.
FROM scratch AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="velero-fsb-guard" \
      org.opencontainers.image.description="Velero RestoreItemAction plugin that keeps file-system-backup restores alive when resource modifiers change workload pod templates" \
      org.opencontainers.image.source="https://github.com/fsb-guard/velero-fsb-guard" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
USER 65532:65532
ENTRYPOINT ["/plugins/velero-fsb-guard", "install", "--to", "/target"]

# Offline path: the static binary from target/static/<target>/ (see .dockerignore).
FROM runtime AS prebuilt
ARG STATIC_TARGET=x86_64-unknown-linux-musl
COPY target/static/${STATIC_TARGET}/velero-fsb-guard /plugins/velero-fsb-guard

FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-bookworm AS build
ARG TARGETARCH
WORKDIR /src
# scripts/build-static.sh installs the C compiler ring needs for the target (musl-tools or a
# cross gcc, whichever fits the build platform) and `file`, then checks the result is static.
COPY . .
ENV FSB_CACHE=/cache STATIC_OUT=/out
RUN case "$TARGETARCH" in \
      amd64) target=x86_64-unknown-linux-musl ;; \
      arm64) target=aarch64-unknown-linux-musl ;; \
      *) echo "unsupported TARGETARCH $TARGETARCH" >&2; exit 1 ;; \
    esac \
 && rustup target add "$target" \
 && scripts/build-static.sh "$target" \
 && install -D -m 0755 "/out/$target/velero-fsb-guard" /plugins/velero-fsb-guard

# Registry path (the default target): the binary compiled above.
FROM runtime
COPY --from=build /plugins/velero-fsb-guard /plugins/velero-fsb-guard
