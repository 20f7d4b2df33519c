/**
 * A downloading process for the crash test: downloads the catalog file given as JSON in argv[2] into the models
 * directory argv[3] with the options in argv[4], on the system clock, until it is killed.
 */
import { SystemClock } from '../../src/adapters/system-clock.js';
import { ModelDownloader } from '../../src/adapters/model-files/downloader.js';
import { ModelsDirectory } from '../../src/adapters/model-files/models-directory.js';

const [file, root, options] = process.argv.slice(2) as [string, string, string];
const downloader = new ModelDownloader({ directory: new ModelsDirectory({ root }), clock: new SystemClock() }, JSON.parse(options));
await downloader.download(JSON.parse(file));
