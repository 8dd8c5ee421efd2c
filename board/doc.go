// Package board is the web app of `gotune board`: a local board for the run
// folders under one folder.
//
// It serves, with net/http and html/template and every file embedded:
//
//   - /: the runs, each folder's status (running, finished, failed,
//     interrupted) read from its files, a lock file or the board's own child
//     process, with method, model, task, best metric, trainable share, steps,
//     time and peak memory, sortable by any column;
//   - /run/NAME: one run's settings, command, parameter report, evaluations,
//     result and files, with SVG loss and metric curves drawn on the server,
//     which the page's script refreshes from /live/NAME while the run trains;
//   - /compare: chosen runs' curves overlaid and a metrics table, and the
//     gotune compare reports under the folder;
//   - /new: a form generated from `gotune train`'s flag definitions that
//     starts the training as a child process (no shell), which the run page
//     can stop with SIGINT and resume from its checkpoint.
//
// Text is in English or Korean. The board checks the Host header when bound
// to a loopback address, a token otherwise, refuses cross-site requests
// that change anything, and keeps every path the form or a file link names
// inside the folders it was given.
package board
