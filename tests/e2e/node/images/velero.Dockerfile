# Velero's image as its own Dockerfile packs it (/velero and /velero-restore-helper, user cnb 1000),
# on scratch instead of paketobuildpacks/run-jammy-tiny (a registry image): both binaries are static.
# No CA bundle: the object store here is plain HTTP, and plugins running in this container (ours
# too) must not need one for it.
FROM scratch
COPY rootfs/ /
COPY --chown=1000:1000 home/ /home/
USER 1000:1000
