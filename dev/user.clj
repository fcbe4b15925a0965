(ns user
  "REPL entry point. It requires nothing from the project (Clojure loads this file in every
  JVM with dev/ on the classpath, also before the Java sources are compiled): call (dev).")

(defn dev
  "Loads the REPL helpers in dev/dev.clj (echo-server, connect, with-fd-check) and switches to them."
  []
  (require 'dev)
  (in-ns 'dev))
