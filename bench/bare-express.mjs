// The ceiling: an Express 5 JSON endpoint that parses the body and answers, nothing else.
import express from 'express';

const app = express();
app.post('/execute', express.json({ limit: 65_536 }), (req, res) => {
  res.json({ id: 'x', action: req.body.action, result: { echo: req.body.payload }, approved: true });
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
