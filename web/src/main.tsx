import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createApolloClient, createAuth } from './api/client';
import { App } from './App';
import './styles.css';

const auth = createAuth();
const client = createApolloClient(auth);

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App client={client} auth={auth} />
  </StrictMode>,
);
