# Stand-in for redis:7 (Debian bookworm ships Redis 7.0), built where no image registry is
# reachable (docker/test/images.sh). Like the official image: redis-server in the foreground as
# the redis user, working directory (and so the RDB and AOF files) /data, a volume.
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server redis-tools \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && mkdir /data && chown redis:redis /data
WORKDIR /data
USER redis
VOLUME /data
EXPOSE 6379
CMD ["redis-server"]
