(ns examples.unix
  "Unix sockets: a stream exchange over a path in a temp dir, and a Linux abstract name.
  Run: lein run -m examples.unix"
  (:require [sockets.core :as s]))

(defn- exchange [addr]
  (with-open [l (s/socket :af/unix :sock/stream)]
    (s/socket-bind l addr)
    (s/socket-listen l 4)
    (let [server (future (with-open [c (s/socket-accept l)]
                           (s/socket-send-all c (.toUpperCase (String. ^bytes (s/socket-receive c 100) "UTF-8")))))]
      (with-open [c (s/socket :af/unix :sock/stream)]
        (s/socket-connect c addr)
        (s/socket-send-all c "over a unix socket")
        (let [r (String. ^bytes (s/socket-receive c 100) "UTF-8")]
          @server
          r)))))

(defn run
  "Returns the replies over a path socket and over an abstract one."
  []
  (let [dir (java.nio.file.Files/createTempDirectory "sockets-example" (make-array java.nio.file.attribute.FileAttribute 0))
        path (str dir "/example.sock")]
    (try
      [(exchange (s/unix-address path))
       (exchange (s/unix-address (str "@sockets-example-" (System/nanoTime))))]
      (finally (.delete (java.io.File. path)) (.delete (.toFile dir))))))

(defn -main
  "Prints what (run) returns: `lein run -m examples.unix`."
  [& _]
  (prn (run))
  (shutdown-agents))
