# A ZteRollout gateway: the gRPC device and admin APIs as an Orleans client. Build from the repository root:
#   docker build -f deploy/docker/gateway.Dockerfile -t zte-rollout-gateway .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish gateway/ZteRollout.Gateway.Host -c Release -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
EXPOSE 5080
# TLS by default: mount a certificate at /tls (tls.crt, tls.key), or set Rollout__Gateway__AllowPlaintext=true and
# ASPNETCORE_URLS=http://0.0.0.0:5080 when TLS ends in front of the gateway (docs/security.md).
ENV ASPNETCORE_URLS=https://0.0.0.0:5080 \
    Kestrel__Certificates__Default__Path=/tls/tls.crt \
    Kestrel__Certificates__Default__KeyPath=/tls/tls.key \
    ZTE_DATA_DIR=/data
VOLUME /data
ENTRYPOINT ["dotnet", "zte-rollout-gateway.dll"]
