# jumpkv node image: the statically linked binary and nothing else.
# Build the binary first (make image does both):
#   CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bin/jumpkv ./cmd/jumpkv && mkdir -p bin/data
FROM scratch
COPY bin/jumpkv /jumpkv
# The mount point of the data volume, owned by the node's user, so that a
# fresh named volume takes that ownership (bin/data is an empty directory).
COPY --chown=65532:65532 bin/data /data
# Not root: a fixed numeric user (scratch has no /etc/passwd).
USER 65532:65532
# 8080: client HTTP API; 7070: node-to-node protocol.
EXPOSE 8080 7070
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/jumpkv", "health"]
ENTRYPOINT ["/jumpkv", "node"]
