/** Entry point of the dashboard's client (bundled by esbuild when the server starts). */
import { render } from 'preact';
import { App } from './app.js';
import './styles.css';

render(<App />, document.getElementById('app')!);
