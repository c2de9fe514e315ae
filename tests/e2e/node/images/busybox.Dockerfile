# The workload image: Debian's busybox-static (one static binary) and its applet links.
FROM scratch
COPY rootfs/ /
CMD ["sh"]
