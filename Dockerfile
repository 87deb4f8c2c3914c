# The nlpops Airflow image: the official Airflow 3 image + Java 17 (Spark) + pinned requirements.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64

USER airflow
COPY --chown=airflow:root requirements.txt pyproject.toml README.md /opt/nlpops/
RUN pip install --no-cache-dir -r /opt/nlpops/requirements.txt
COPY --chown=airflow:root include /opt/nlpops/include
COPY --chown=airflow:root etl /opt/nlpops/etl
COPY --chown=airflow:root ml /opt/nlpops/ml
COPY --chown=airflow:root plugins /opt/nlpops/plugins
RUN pip install --no-cache-dir --no-deps -e /opt/nlpops
