# A ZteRollout silo (role "silo"): grains, state and reminders in PostgreSQL. Build from the repository root:
#   docker build -f deploy/docker/silo.Dockerfile -t zte-rollout-silo .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish silo/ZteRollout.Silo.Host -c Release -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
# 11111 silo-to-silo, 30000 Orleans gateway (for gateway processes), 5081 gRPC health for probes.
EXPOSE 11111 30000 5081
ENV Rollout__Role=silo \
    Rollout__Database__Kind=postgresql \
    ASPNETCORE_URLS=http://0.0.0.0:5081 \
    ZTE_DATA_DIR=/data
VOLUME /data
ENTRYPOINT ["dotnet", "zte-rollout-server.dll"]
