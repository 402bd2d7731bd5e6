/**
 * Image pulls with the pull policy (kl/images/image_manager.go): ImageStatus first (containerd's
 * PullImage always goes to the network, even for a local image), `Never` fails with
 * ErrImageNeverPull when absent, `IfNotPresent` pulls only when absent, `Always` pulls every
 * time. Failed pulls back off per image (10 s doubling to 5 min): ErrImagePull, then
 * ImagePullBackOff while waiting.
 */
import { CocoletError, ErrorCode, type ErrorContext } from '../../../shared/errors/errors.js';
import type { CriImages, PodSandboxConfigInit } from '../../cri/api.js';
import type { Clock } from '../clock.js';
import { Backoff } from './backoff.js';

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

export class ImagePullError extends CocoletError {
  constructor(
    readonly reason: 'ErrImagePull' | 'ImagePullBackOff' | 'ErrImageNeverPull' | 'InvalidImageName',
    message: string,
    context: ErrorContext,
    cause?: unknown,
  ) {
    super(reason === 'ErrImageNeverPull' ? ErrorCode.FailedPrecondition : ErrorCode.Unavailable, message, { context, cause });
  }
}

export class ImageManager {
  private readonly backoff: Backoff;

  constructor(
    private readonly images: CriImages,
    private readonly clock: Clock,
  ) {
    this.backoff = new Backoff(clock);
  }

  /** The image reference to create the container with. */
  async ensure(image: string, policy: PullPolicy, sandbox: PodSandboxConfigInit, ctx: ErrorContext, event?: (reason: 'Pulling' | 'Pulled', message: string) => void): Promise<string> {
    if (policy !== 'Always') {
      const present = await this.images.imageStatus(image, { context: ctx });
      if (present) {
        event?.('Pulled', `Container image "${image}" already present on machine`);
        return present.id || image;
      }
      if (policy === 'Never') {
        throw new ImagePullError('ErrImageNeverPull', `container image "${image}" is not present with pull policy of Never`, ctx);
      }
    }
    const key = image;
    if (this.backoff.isInBackOffSinceUpdate(key)) {
      throw new ImagePullError('ImagePullBackOff', `Back-off pulling image "${image}"`, ctx);
    }
    try {
      event?.('Pulling', `Pulling image "${image}"`);
      const begin = this.clock.now();
      const ref = await this.images.pullImage(image, sandbox, { context: ctx });
      event?.('Pulled', `Successfully pulled image "${image}" in ${((this.clock.now() - begin) / 1000).toFixed(3)}s`);
      return ref;
    } catch (e) {
      this.backoff.next(key, this.clock.now());
      throw new ImagePullError('ErrImagePull', `failed to pull image "${image}": ${e instanceof Error ? e.message : String(e)}`, ctx, e);
    }
  }
}
