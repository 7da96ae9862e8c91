# A local stand-in for the official NATS image (nats:2.11-alpine), for the
# compose end-to-end test on machines that cannot pull: the nats-server
# binary built from our go.mod's version on the local Debian base, with
# wget for the compose file's healthcheck and the same command-line shape
# (arguments go to nats-server).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends wget \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir /data
COPY nats-server /usr/local/bin/nats-server
EXPOSE 4222 6222 7422 8222
ENTRYPOINT ["nats-server"]
