# velero-plugin-for-aws's image: the final stage of that module's own Dockerfile, with the two
# binaries tests/e2e/velero/build.sh built from the module instead of its golang builder stage.
FROM scratch
COPY velero-plugin-for-aws /plugins/
COPY cp-plugin /bin/cp-plugin
USER 65532:65532
ENTRYPOINT ["cp-plugin", "/plugins/velero-plugin-for-aws", "/target/velero-plugin-for-aws"]
