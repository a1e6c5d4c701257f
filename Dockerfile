# nomos-rs daemons (nomos-syncer, nomos-importer, nomos-monitor) and the nomos CLI.
#   docker build -t nomos-rs:0.1.0 .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p nomos-syncer -p nomos-importer -p nomos-monitor -p nomos-cli \
 && mkdir /out \
 && cp target/release/nomos target/release/nomos-syncer target/release/nomos-importer \
       target/release/nomos-monitor /out/

FROM debian:bookworm-slim
# ssh: the Git ssh transport runs the ssh client (which needs the uid in /etc/passwd);
# ca-certificates: https remotes.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 65532 --user-group --create-home --home-dir /home/nomos nomos
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/nomos-syncer"]
