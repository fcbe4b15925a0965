;; Child JVM for sockets.send-file-test/no-sigpipe: sigpipe.clj's check for socket-send-file.
;; sendfile(2) takes no MSG_NOSIGNAL, and HotSpot ignores SIGPIPE, which would hide one: this
;; resets SIGPIPE to SIG_DFL, then sends a file (by sendfile, and the read+send way) to TCP and
;; unix sockets whose peer closed or reset. Prints one EDN map of outcomes and exits 0; a
;; SIGPIPE kills it (exit 141).
(ns sockets.child.send-file-sigpipe
  (:require [clojure.java.io :as io]
            [sockets.core :as s])
  (:import (java.nio.file Files)
           (java.nio.file.attribute FileAttribute)))

(set! *warn-on-reflection* true)

;; sigpipe.clj's helpers: its -main runs only when sockets.child is set, so it is cleared while
;; that file loads here, and set back as it was (unset in `lein test`, which loads this file too)
(let [was (System/clearProperty "sockets.child")]
  (try (require 'sockets.child.sigpipe)
       (finally (when was (System/setProperty "sockets.child" was)))))
(alias 'sp 'sockets.child.sigpipe)

(defn run-case [addr how file]
  (let [[c peer] (sp/pair addr)]
    (when (= how :reset) (s/set-socket-options! peer {:so/linger {:on? true :seconds 0}}))
    (s/socket-close peer)
    (let [r (try (dotimes [_ 50] (s/socket-send-file c file)) :no-error
                 (catch sockets.SocketException e (select-keys (ex-data e) [:kind :errno])))]
      (s/socket-close* c)
      r)))

(defn -main [& _]
  (.signal ^sockets.child.sigpipe.Sig @sp/libc sp/SIGPIPE 0) ; SIG_DFL
  (when (sp/sig-ignored?) (println "SIGPIPE still ignored") (System/exit 3))
  (let [dir (.toFile (Files/createTempDirectory "sendfile-sigpipe" (make-array FileAttribute 0)))
        file (io/file dir "data")]
    (try
      (io/copy (byte-array (* 1024 1024) (byte 7)) file)
      (let [addrs {:tcp (s/inet-address "127.0.0.1" 0) :unix (s/unix-address (str (io/file dir "s")))}
            results (into (sorted-map)
                          (for [[net addr] addrs, how [:close :reset], way [:sendfile :read+send]
                                :when (not (and (= net :unix) (= how :reset)))]
                            (do (io/delete-file (io/file dir "s") true)
                                (sockets.impl.FileSend/useSendfile (= way :sendfile))
                                [[net how way] (run-case addr how (str file))])))]
        (prn {:sigpipe-ignored (sp/sig-ignored?) :results results})
        (System/exit 0))
      (finally (doseq [f (reverse (file-seq dir))] (io/delete-file f true))))))

;; only as a child program (run-child passes -Dsockets.child=true): `lein test` loads every
;; namespace under test/, and this must do nothing there
(when (System/getProperty "sockets.child") (apply -main *command-line-args*))
