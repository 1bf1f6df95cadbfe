/**
 * Images the server can make itself when a service needs them (the demo's example images,
 * packages/server/src/demo/example-images.ts). The launcher asks before it hands a service
 * to the runtime, so a service whose image is still being built waits in `pending` with a
 * `Building` event and the build's output in its log, instead of failing to start.
 */
export interface ImagePreparer {
  /**
   * `null` when `image` is not one this preparer makes (the runtime uses it as it is).
   * Otherwise a promise that resolves once the image exists locally; `onProgress` gets the
   * build's output lines, and is never called when the image was already there. Rejects with
   * an Error saying why the image could not be made.
   */
  prepare(image: string, onProgress: (line: string) => void): Promise<void> | null;
}
