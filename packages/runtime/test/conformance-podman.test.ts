/** The runtime conformance suite (conformance/suite.ts) on the podman runtime. */
import { runtimeConformance } from "./conformance/suite.ts";

runtimeConformance("podman");
