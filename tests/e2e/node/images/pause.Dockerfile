# The sandbox ("pause") image as Kubernetes' build/pause/Dockerfile makes it, from the binary
# tests/e2e/node/build.sh compiles from that directory's pause.c.
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
