package api

import "net/http"

// formHandler serves the agent form under /form/. Until the form lands
// (issue 6, the form's part) it answers 404 in JSON.
func formHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeError(w, errNotFound) })
}
