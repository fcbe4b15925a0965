;; Child JVM for sockets.fuzz-test/huge-values-everywhere (run with -Xmx128m): the fuzz with
;; the huge integers too; prints its findings as EDN.
(ns sockets.child.fuzz
  (:require [sockets.fuzz-test :as fuzz]))

(defn -main [& _]
  (prn (fuzz/fuzz true 4 100000))
  (shutdown-agents)
  (System/exit 0))

;; only as a child program (-Dsockets.child=true): `lein test` loads every namespace under test/
(when (System/getProperty "sockets.child") (apply -main *command-line-args*))
