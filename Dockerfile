# Build stage: the toolchain, a C compiler for bundled SQLite and libpq, OpenSSL headers.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY metadata ./metadata
COPY migrations ./migrations
COPY benches ./benches
RUN cargo build --release --locked --bin ccfeed

# Runtime stage: only the binary and the libraries it links.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --create-home ccfeed
COPY --from=build /src/target/release/ccfeed /usr/local/bin/ccfeed
USER ccfeed
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["ccfeed"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--database", "/data/ccfeed.db"]
