-- wrk script: HTTP publish of a small SenML JSON pack with a thing secret, keep-alive.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/senml+json"
wrk.headers["Authorization"] = "Thing bench-secret"
wrk.body = '[{"bn":"urn:dev:mac:0024befffe804ff1:","n":"temp","u":"Cel","v":23.1}]'
