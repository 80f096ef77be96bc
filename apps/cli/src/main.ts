console.log("closeloop: not yet");
