# Stand-in for rabbitmq:3.10-management (Debian bookworm ships RabbitMQ 3.10), built where no
# image registry is reachable (docker/test/images.sh). Like the official image: the server runs
# in the foreground as the rabbitmq user, data in /var/lib/rabbitmq (a volume), the management
# plugin enabled, the guest user allowed from any address (the official image's default config),
# and the same RABBITMQ_* environment variables are honoured.
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends rabbitmq-server \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && rabbitmq-plugins enable --offline rabbitmq_management >/dev/null \
 && printf 'loopback_users = none\n' > /etc/rabbitmq/rabbitmq.conf \
 && chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /etc/rabbitmq
# Logs to stdout, as the official image does (Debian logs to /var/log/rabbitmq).
ENV RABBITMQ_LOGS=-
USER rabbitmq
WORKDIR /var/lib/rabbitmq
ENV HOME=/var/lib/rabbitmq
VOLUME /var/lib/rabbitmq
EXPOSE 5672 15672
# The server script itself (Debian's /usr/sbin wrapper sends its output to files and keeps a
# shell as PID 1 that SIGTERM would not reach).
CMD ["/usr/lib/rabbitmq/bin/rabbitmq-server"]
