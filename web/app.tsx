/**
 * The page: asks for the token when the server wants one (and renders nothing else until it has it), then the
 * header with the live connection's state and the five views, chosen by the URL's hash.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, isApiRequestError, onUnauthorized, tokenStore } from './api.js';
import { LiveContext, useThrottled } from './hooks.js';
import { JobView } from './job-view.js';
import { JobsView } from './jobs-view.js';
import { LiveEvents, type LiveState } from './live.js';
import { LoginView } from './login-view.js';
import { ModelsView, figuresOf, type DownloadFigures } from './models-view.js';
import { SubmitView } from './submit-view.js';
import { SystemView } from './system-view.js';
import { ThemeSwitch } from './theme.js';
import type { ModelView } from './types.js';
import { ErrorNote } from './widgets.js';

type Route = { page: 'submit' } | { page: 'jobs' } | { page: 'job'; id: string } | { page: 'models' } | { page: 'system' };

function routeOf(hash: string): Route {
  const [, page, id] = hash.replace(/^#/, '').split('/');
  if (page === 'jobs' && id) return { page: 'job', id: decodeURIComponent(id) };
  if (page === 'jobs' || page === 'models' || page === 'system') return { page };
  return { page: 'submit' };
}

const NAV: Array<[Route['page'], string, string]> = [
  ['submit', '#/submit', 'Submit'],
  ['jobs', '#/jobs', 'Jobs'],
  ['models', '#/models', 'Models'],
  ['system', '#/system', 'Backends & health'],
];

/** The whole page. */
export function App() {
  const [auth, setAuth] = useState<'checking' | 'login' | 'ready'>('checking');
  const [startError, setStartError] = useState<unknown>(null);
  const [models, setModels] = useState<ModelView[]>([]);
  const [route, setRoute] = useState<Route>(routeOf(location.hash));

  const start = () => {
    setStartError(null);
    api<ModelView[]>('/v1/models').then(
      (m) => {
        setModels(m);
        setAuth('ready');
      },
      (error: unknown) => {
        if (isApiRequestError(error) && error.status === 401) setAuth('login');
        else setStartError(error);
      },
    );
  };
  useEffect(start, []);
  useEffect(() => onUnauthorized(() => setAuth('login')), []);
  useEffect(() => {
    const follow = () => setRoute(routeOf(location.hash));
    addEventListener('hashchange', follow);
    return () => removeEventListener('hashchange', follow);
  }, []);

  if (auth === 'login') {
    return <LoginView onSignedIn={start} />;
  }
  if (auth === 'checking') {
    return <main class="center">{startError ? <StartError error={startError} retry={start} /> : <p class="muted">Connecting…</p>}</main>;
  }
  return (
    <Dashboard
      route={route}
      models={models}
      setModels={setModels}
      signOut={() => {
        tokenStore.clear();
        setAuth('login');
      }}
    />
  );
}

function StartError({ error, retry }: { error: unknown; retry: () => void }) {
  return (
    <div class="panel">
      <ErrorNote error={error} />
      <button type="button" onClick={retry}>
        Try again
      </button>
    </div>
  );
}

/** The signed-in page: one events socket for every view. */
function Dashboard({ route, models, setModels, signOut }: { route: Route; models: ModelView[]; setModels: (m: ModelView[]) => void; signOut: () => void }) {
  const live = useMemo(() => new LiveEvents({ token: tokenStore.get }), []);
  const [liveState, setLiveState] = useState<LiveState>(live.state);
  const [downloads, setDownloads] = useState<ReadonlyMap<string, DownloadFigures>>(new Map());
  const refreshModels = useThrottled(() => {
    api<ModelView[]>('/v1/models').then(setModels, () => undefined);
  }, 500);
  useEffect(() => {
    const offState = live.onState((state, reconnected) => {
      setLiveState(state);
      if (reconnected) refreshModels();
    });
    const off = live.subscribe((event) => {
      if (event.type === 'download.progress') setDownloads((d) => new Map(d).set(event.modelId, figuresOf(event)));
      if (event.type === 'model.status') refreshModels();
    });
    live.start();
    return () => {
      off();
      offState();
      live.stop();
    };
  }, [live]);
  const go = (hash: string) => {
    location.hash = hash;
  };

  return (
    <LiveContext.Provider value={live}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Understudy</span>
        <nav aria-label="views">
          {NAV.map(([page, href, label]) => (
            <a key={page} href={href} aria-current={route.page === page || (page === 'jobs' && route.page === 'job') ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span class="live" data-state={liveState} role="status" data-testid="live-state">
          {liveState === 'open' ? 'live' : liveState === 'reconnecting' ? 'connection lost, reconnecting…' : 'connecting…'}
        </span>
        <ThemeSwitch />
        {tokenStore.get() && (
          <button type="button" class="link" onClick={signOut}>
            Sign out
          </button>
        )}
      </header>
      {liveState === 'reconnecting' && (
        <div class="banner" role="alert">
          The live connection dropped; reconnecting. Views are read again once it is back.
        </div>
      )}
      <main id="main" tabIndex={-1}>
        {route.page === 'submit' && <SubmitView models={models} onSubmitted={(id) => go(`#/jobs/${id}`)} />}
        {route.page === 'jobs' && <JobsView open={(id) => go(`#/jobs/${id}`)} />}
        {route.page === 'job' && <JobView id={route.id} back={() => go('#/jobs')} />}
        {route.page === 'models' && <ModelsView models={models} downloads={downloads} refresh={refreshModels} />}
        {route.page === 'system' && <SystemView />}
      </main>
    </LiveContext.Provider>
  );
}
