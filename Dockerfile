# Build stage: a C compiler, so setup.py compiles the detectors' two hot paths (the profile
# replay with mypyc, the isolation forest walk with Cython) into the wheel. Without one, the
# install falls back to the pure-Python versions: same results, slower.
FROM python:3.11-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . /src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Run stage: the wheels only, no compiler.
FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels clearance
ENV CLEARANCE_DATA_DIR=/var/lib/clearance
EXPOSE 6066
CMD ["clearance", "worker"]
