import { DockerEngine, PAUSE_IMAGE } from "@roomservice/runtime";
import { sdkServiceTag } from "../lib/sdk-image.ts";
const d = new DockerEngine();
const image = sdkServiceTag();
const lab = { "dev.roomservice.owner": "perfdocker-stages" };
for (let rep = 0; rep < 3; rep++) {
  let t = performance.now();
  const { Id: pause } = await d.json<any>({ method: "POST", path: "/containers/create", body: { Image: PAUSE_IMAGE, Labels: lab, HostConfig: { NetworkMode: "none", Init: true } } });
  await d.json({ method: "POST", path: `/containers/${pause}/start` });
  const tp = performance.now() - t; t = performance.now();
  const ids = await Promise.all([0,1,2,3,4].map(async (i) => (await d.json<any>({ method: "POST", path: "/containers/create", body: { Image: image, Env: [`PORT=${8080+i}`], Cmd: ["node", "-e", "const t=performance.now();require('/app/node_modules/@meshagent/meshagent');console.log('sdk', (performance.now()-t).toFixed(0), 'uptime', (process.uptime()*1000).toFixed(0))"], Labels: lab, HostConfig: { NetworkMode: `container:${pause}`, Init: true, ReadonlyRootfs: true } } })).Id));
  const tc = performance.now() - t; t = performance.now();
  await Promise.all(ids.map((id) => d.json({ method: "POST", path: `/containers/${id}/start` })));
  const ts = performance.now() - t; t = performance.now();
  await Promise.all(ids.map((id) => d.json({ method: "POST", path: `/containers/${id}/wait` })));
  const tw = performance.now() - t;
  const outs = [];
  for (const id of ids) { const r = await d.raw({ method: "GET", path: `/containers/${id}/logs`, query: { stdout: 1 } }); const chunks=[]; for await (const c of r) chunks.push(c); outs.push(Buffer.concat(chunks).subarray(8).toString().trim()); }
  console.log(`pause ${tp.toFixed(0)} create5 ${tc.toFixed(0)} start5 ${ts.toFixed(0)} run-to-exit ${tw.toFixed(0)} | ${outs.join(" ; ")}`);
  await Promise.all([...ids, pause].map((id) => d.json({ method: "DELETE", path: `/containers/${id}`, query: { force: 1 } })));
}
d.close();
