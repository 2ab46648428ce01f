# The hybridsoa mock server, listening on 0.0.0.0:8443 over HTTPS; data, CA and certificates in /data.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY mockserver ./mockserver
COPY sdk ./sdk
COPY scenarios ./scenarios
RUN pip install --no-cache-dir -e '.[mock]'
VOLUME /data
# 8443: the mock's direct HTTPS port; 8080: the HTTPS proxy that answers for the real Microsoft host names.
EXPOSE 8443 8080
CMD ["hybridsoa-mock", "serve", "--host", "0.0.0.0", "--port", "8443", "--data-dir", "/data", "--proxy-port", "8080"]
