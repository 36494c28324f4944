# Documentation of the connection options shared by operator_sdk.util modules.
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file.
      - Falls back to the E(K8S_AUTH_KUBECONFIG) environment variable, then E(KUBECONFIG), then the
        in-cluster service account, then C(~/.kube/config).
    type: path
  context:
    description:
      - Name of the kubeconfig context to use (else the current context). Also read from E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - URL of the API server, overriding the kubeconfig. Also read from E(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - Bearer token for the API server. Also read from E(K8S_AUTH_API_KEY).
    type: str
  username:
    description:
      - User name for HTTP basic authentication (only for clusters that allow it).
        Also read from E(K8S_AUTH_USERNAME).
    type: str
  password:
    description:
      - Password for HTTP basic authentication. Also read from E(K8S_AUTH_PASSWORD).
    type: str
  validate_certs:
    description:
      - Whether to verify the TLS certificate of the API server.
        Also read from E(K8S_AUTH_VALIDATE_CERTS) or E(K8S_AUTH_VERIFY_SSL).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to the CA bundle used to verify the API server (the whole chain).
        Also read from E(K8S_AUTH_CA_CERT) or E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate for TLS client authentication.
        Also read from E(K8S_AUTH_CLIENT_CERT) or E(K8S_AUTH_CERT_FILE).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the key of O(client_cert). Also read from E(K8S_AUTH_CLIENT_KEY) or E(K8S_AUTH_KEY_FILE).
    type: path
    aliases: [key_file]
  proxy:
    description:
      - URL of an HTTP proxy to reach the API server through. Also read from E(K8S_AUTH_PROXY).
      - The usual E(HTTP_PROXY)/E(HTTPS_PROXY) variables are not used.
    type: str
  persist_config:
    description:
      - Whether refreshed credentials (for example OIDC tokens) are written back to the kubeconfig file.
        Also read from E(K8S_AUTH_PERSIST_CONFIG).
    type: bool
"""
