FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir .
ENV CLEARANCE_DATA_DIR=/var/lib/clearance
EXPOSE 6066
CMD ["clearance", "worker"]
