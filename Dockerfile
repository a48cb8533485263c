# The collector image, for server mode (clickhouse://). The embedded engine's
# library is not in it: mount one and set CHDB_LIB_PATH to use chdb://.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/sezim ./cmd/sezim

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/sezim sezim && mkdir -p /var/lib/sezim && chown sezim /var/lib/sezim
COPY --from=build /out/sezim /usr/local/bin/sezim
COPY config/example.yaml /etc/sezim/sites.yaml
USER sezim
WORKDIR /var/lib/sezim
EXPOSE 8080 8090 9090
ENTRYPOINT ["/usr/local/bin/sezim"]
CMD ["serve"]
