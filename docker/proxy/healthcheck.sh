#!/bin/bash
# HEALTHCHECK: nginx answers on its loopback-only status listener. The slim base has no curl;
# bash's /dev/tcp is enough for one HTTP/1.0 request.
set -eu
exec 3<>/dev/tcp/127.0.0.1/8081
printf 'GET /live HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
read -r -t 2 status <&3
[[ $status == "HTTP/1.1 200 "* ]]
