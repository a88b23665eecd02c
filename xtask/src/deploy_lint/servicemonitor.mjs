// Validates ServiceMonitor objects (a JSON array on stdin) with the validator
// that @kubernetes-models/prometheus-operator generates from the Prometheus
// Operator's CRD schema. Written by `cargo xtask deploy-lint` into its npm
// prefix, so that the import below resolves from its node_modules.
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

let input = "";
for await (const chunk of process.stdin) input += chunk;
let failures = 0;
for (const doc of JSON.parse(input)) {
  const name = `ServiceMonitor/${doc?.metadata?.name ?? "?"}`;
  try {
    new ServiceMonitor(doc).validate();
    console.log(`ok    ${name} (prometheus-operator CRD schema)`);
  } catch (err) {
    failures += 1;
    console.log(`ERROR ${name}: ${err.message}`);
  }
}
process.exit(failures ? 1 : 0);
