#!/usr/bin/env python3
"""Rewrites modules/observability's prometheus.yml (as deployed in the ConfigMap
monitoring/prometheus-config) for a Prometheus running outside the cluster, on loopback, against
scripts/local-cluster: only where that cluster differs from a real one.

    rewrite-prometheus.py CONFIG SPEC_JSON  > prometheus.yml

SPEC_JSON: {"token": file, "ca": file, "rules": dir,
            "targets": {job: {"static": [static_config...], "scheme": "http"?}}}

- jobs named in "targets" get static targets instead of Kubernetes service discovery (the
  processes' loopback addresses; a static config's labels may set __metrics_path__), and the
  relabel rules that read discovery metadata (__meta_kubernetes_*) are dropped with it;
- "scheme" replaces the job's scheme where the local process serves plain http (kwok's
  simulated kubelet metrics, local-cluster's etcd); the TLS settings then go too;
- the service account token and CA are files here, not mounted at /var/run/secrets;
- jobs with nothing to scrape here, and Alertmanager, are left out; rule files are read from
  the "rules" directory (the ConfigMap monitoring/prometheus-rules written out).
Everything else (intervals, honor_labels, metric relabelling, authorization) is kept as rendered.
"""
import json
import sys

import yaml


def main():
    cfg = yaml.safe_load(open(sys.argv[1]))
    spec = json.loads(sys.argv[2])
    jobs = []
    for job in cfg["scrape_configs"]:
        target = spec["targets"].get(job["job_name"])
        if target is None:
            continue
        for sd in [k for k in job if k.endswith("_sd_configs")]:
            del job[sd]
        job["static_configs"] = target["static"]
        if "scheme" in target:
            job["scheme"] = target["scheme"]
        job["relabel_configs"] = [
            r for r in job.get("relabel_configs", [])
            if not any(label.startswith("__meta_kubernetes") for label in r.get("source_labels", []))
        ]
        auth = job.get("authorization")
        if auth and "credentials_file" in auth:
            auth["credentials_file"] = spec["token"]
        tls = job.get("tls_config")
        if tls and job.get("scheme") == "https":
            if "ca_file" in tls:
                tls["ca_file"] = spec["ca"]
        elif tls:
            del job["tls_config"]
        jobs.append(job)
    cfg["scrape_configs"] = jobs
    cfg.pop("alerting", None)
    cfg["rule_files"] = [spec["rules"] + "/*.yaml"]
    print(yaml.safe_dump(cfg))


if __name__ == "__main__":
    main()
